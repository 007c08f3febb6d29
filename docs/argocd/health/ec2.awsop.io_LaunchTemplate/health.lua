-- Argo CD health check for awsop objects (every kind uses this same script).
-- Single source: docs/argocd/health.lua. Run `python docs/argocd/generate.py` to copy it to
-- health/<group>_<Kind>/health.lua and into argocd-cm-values.yaml (tests/chart checks they match).
-- Argo CD passes the object as the global `obj` and expects {status = ..., message = ...}.
local hs = {}

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for status"
  return hs
end

local conditions = {}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type ~= nil then
      conditions[condition.type] = condition
    end
  end
end

local function is(type_, status)
  local condition = conditions[type_]
  return condition ~= nil and condition.status == status
end

local function message(type_, fallback)
  local condition = conditions[type_]
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

-- Paused first: a paused object does not observe new generations, and that is not progress.
if is("Synced", "False") and conditions["Synced"].reason == "Paused" then
  hs.status = "Suspended"
  hs.message = message("Synced", "Paused (awsop.io/paused annotation)")
  return hs
end

local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if observed == nil or observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for awsop to observe generation " .. tostring(generation)
  return hs
end

if is("Stalled", "True") then
  hs.status = "Degraded"
  hs.message = message("Stalled", "Stalled")
  return hs
end

if is("Drifted", "True") then
  local paths = {}
  if obj.status.drift ~= nil then
    for _, entry in ipairs(obj.status.drift) do
      if entry.path ~= nil then
        table.insert(paths, entry.path)
      end
    end
  end
  hs.status = "Degraded"
  if #paths > 0 then
    hs.message = "Drifted from AWS: " .. table.concat(paths, ", ")
  else
    hs.message = message("Drifted", "Drifted from AWS")
  end
  return hs
end

if is("Ready", "True") then
  hs.status = "Healthy"
  hs.message = message("Ready", "Ready")
  return hs
end

-- Not Ready yet: while awsop works on it (a table CREATING, an index being added step by step), the
-- Reconciling condition says what it waits for.
hs.status = "Progressing"
if is("Reconciling", "True") then
  hs.message = message("Reconciling", message("Ready", "Waiting for Ready"))
else
  hs.message = message("Ready", "Waiting for Ready")
end
return hs
