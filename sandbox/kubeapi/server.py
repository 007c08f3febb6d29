"""HTTP layer: routing Kubernetes REST paths onto :class:`~.api.Api`, lists, watches, and the runner.

:class:`KubeAPIServer` runs an aiohttp application on 127.0.0.1 in its own thread and event loop,
so synchronous tests can drive it with subprocesses (kubectl, kopf) and asynchronous code can use
it as ``async with``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from . import admission, discovery, patches, protobuf, tables
from .api import Api, WriteOptions, parse_dry_run
from .errors import (
    ApiError,
    bad_request,
    conflict,
    method_not_allowed,
    resource_not_found,
    unsupported_media_type,
)
from .resources import ResourceType, VersionInfo
from .selectors import object_matcher
from .store import Store, TooOld, Watcher

log = logging.getLogger(__name__)

_ALLOWED_HOSTS = ("127.0.0.1", "localhost")
_PATCH_TYPES = [patches.JSON_PATCH, patches.MERGE_PATCH, patches.APPLY_PATCH, patches.STRATEGIC_MERGE_PATCH]


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    response = web.Response(
        text=json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )
    for warning in warnings or []:
        response.headers.add("Warning", '299 - "' + warning.replace('"', '\\"') + '"')
    return response


def _error(exc: ApiError) -> web.Response:
    return _json(exc.status(), exc.code, exc.warnings)


class Route:
    """A parsed resource URL: which resource, version, namespace, name and subresource."""

    def __init__(
        self, rt: ResourceType, info: VersionInfo, namespace: str | None, name: str, sub: str
    ) -> None:
        self.rt, self.info, self.namespace, self.name, self.sub = rt, info, namespace, name, sub

    @property
    def version(self) -> str:
        return self.info.name


class App:
    """The aiohttp application serving one :class:`Api`."""

    def __init__(self, api: Api, *, bookmark_interval: float = 30.0) -> None:
        self.api = api
        self.store: Store = api.store
        self.bookmark_interval = bookmark_interval
        self.address = "127.0.0.1:0"
        self.stopping = False
        self.web = web.Application(client_max_size=16 * 1024 * 1024)
        self.web.router.add_route("*", "/{tail:.*}", self.dispatch)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiError as exc:
            return _error(exc)
        except Exception as exc:  # keep the Status shape even for sandbox bugs
            log.exception("internal error serving %s %s", request.method, request.path)
            return _json(ApiError(500, "InternalError", f"Internal error occurred: {exc}").status(), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return web.Response(text="ok")
        if request.method == "GET":
            doc = self._fixed_document(parts)
            if doc is not None:
                return _json(doc)
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise resource_not_found()
        if not rest:
            if request.method != "GET":
                raise method_not_allowed()
            doc = discovery.resource_list(self.store, group, version)
            if doc is None:
                raise resource_not_found()
            return _json(doc)
        route = self._route(group, version, rest)
        return await self._serve(request, route)

    def _fixed_document(self, parts: list[str]) -> dict[str, Any] | None:
        """Discovery, version, health and OpenAPI documents (GET only)."""
        if parts == ["version"]:
            return discovery.version_info()
        if parts == ["api"]:
            return discovery.api_versions(self.address)
        if parts == ["apis"]:
            return discovery.api_group_list(self.store)
        if len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(self.store, parts[1])
            if doc is None:
                raise resource_not_found()
            return doc
        if parts[:2] == ["openapi", "v3"]:
            if len(parts) == 2:
                return discovery.openapi_index(self.store)
            if parts[2] == "api" and len(parts) == 4:
                found = discovery.openapi_doc(self.store, "", parts[3])
            elif parts[2] == "apis" and len(parts) == 5:
                found = discovery.openapi_doc(self.store, parts[3], parts[4])
            else:
                found = None
            if found is None:
                raise resource_not_found()
            return found
        if parts and parts[0] == "openapi":
            raise resource_not_found()
        return None

    def _route(self, group: str, version: str, rest: list[str]) -> Route:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = self.store.types.get((group, rest[2]))
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise resource_not_found()
        rt, info = self.store.lookup(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if namespace is not None and not rt.namespaced:
            raise resource_not_found()
        if rt.namespaced and name and namespace is None:
            raise resource_not_found()
        if sub and not (sub == "status" and info.status_subresource):
            raise resource_not_found()
        return Route(rt, info, namespace, name, sub)

    # ------------------------------------------------------------------ verbs

    async def _serve(self, request: web.Request, route: Route) -> web.StreamResponse:
        q = request.query
        method = request.method
        if method == "GET":
            if route.name:
                obj = self.api.get(route.rt, route.version, route.namespace or "", route.name)
                return self._render_one(request, route, obj)
            if q.get("watch") in ("true", "1"):
                return await self._watch(request, route)
            return self._list(request, route)
        opts = self._write_options(request)
        ns = route.namespace or ""
        if method == "POST":
            if route.name or (route.rt.namespaced and route.namespace is None):
                raise method_not_allowed()
            body = await self._body(request)
            created = await self._admitted(
                route, "CREATE", "", lambda o: self.api.create(route.rt, route.version, ns, body, o), opts
            )
            return _json(created, 201, opts.warnings)
        if method == "PUT" and route.name:
            body = await self._body(request)
            updated = await self._admitted(
                route,
                "UPDATE",
                route.name,
                lambda o: self.api.update(route.rt, route.version, ns, route.name, body, o, route.sub),
                opts,
            )
            return _json(updated, 200, opts.warnings)
        if method == "PATCH" and route.name:
            content_type = request.content_type
            if content_type not in _PATCH_TYPES:
                raise unsupported_media_type(_PATCH_TYPES)
            if content_type == patches.STRATEGIC_MERGE_PATCH and route.rt.custom:
                raise unsupported_media_type([patches.JSON_PATCH, patches.MERGE_PATCH, patches.APPLY_PATCH])
            body = await self._body(request)
            exists = self.store.find(route.rt, ns, route.name) is not None
            patched = await self._admitted(
                route,
                "UPDATE" if exists else "CREATE",
                route.name,
                lambda o: self.api.patch(
                    route.rt, route.version, ns, route.name, content_type, body, o, route.sub
                ),
                opts,
            )
            return _json(patched, 200, opts.warnings)
        if method == "DELETE" and not route.sub:
            options = await self._body(request, optional=True) or {}
            if route.name:
                result = await self._admitted(
                    route,
                    "DELETE",
                    route.name,
                    lambda o: self.api.delete(route.rt, route.version, ns, route.name, options, o),
                    opts,
                )
                return _json(result, 200, opts.warnings)
            matches = object_matcher(q.get("labelSelector"), q.get("fieldSelector"))
            items = []
            for obj in self.store.select(route.rt, route.namespace, matches):
                meta = obj["metadata"]
                item = Route(route.rt, route.info, meta.get("namespace") or None, meta["name"], "")
                await self._admitted(
                    item,
                    "DELETE",
                    meta["name"],
                    lambda o, m=meta: self.api.delete(
                        route.rt, route.version, m.get("namespace", ""), m["name"], options, o
                    ),
                    opts,
                )
                items.append(self.api.present(route.rt, route.version, obj))
            return _json(self._list_body(route, items), 200, opts.warnings)
        raise method_not_allowed()

    async def _admitted(
        self,
        route: Route,
        operation: str,
        name: str,
        write: Callable[[WriteOptions], dict[str, Any]],
        opts: WriteOptions,
    ) -> dict[str, Any]:
        """Run `write` behind the validating admission webhooks, as kube-apiserver does: the webhooks see
        the object as it would be stored (after defaulting, pruning and schema validation) and its old
        version; the write is committed only if they all admit it. Should the object change while the
        webhooks deliberate, the whole admission runs again (the real server's update retry loop)."""
        rt = route.rt
        hooks_type = self.store.types[(admission.GROUP, admission.PLURAL)]
        configs = self.store.select(hooks_type, None, lambda _obj: True)
        if not configs or rt.key in admission.EXEMPT:
            return write(opts)
        ns = route.namespace or ""
        for _ in range(5):
            current = self.store.find(rt, ns, name) if name else None
            seen_rv = current["metadata"]["resourceVersion"] if current else None
            probe = WriteOptions(
                dry_run=True,
                field_validation=opts.field_validation,
                field_manager=opts.field_manager,
                force=opts.force,
            )
            would_be = write(probe)
            obj = None if operation == "DELETE" else would_be
            old = self.api.present(rt, route.version, current) if current is not None else None
            meta = (obj or old or {}).get("metadata") or {}
            namespace_labels = None
            if rt.namespaced:
                ns_obj = self.store.find(self.store.types[("", "namespaces")], "", meta.get("namespace", ns))
                namespace_labels = ((ns_obj or {}).get("metadata") or {}).get("labels") or {}
            request = admission.Request(
                group=rt.group,
                version=route.version,
                kind=rt.kind,
                plural=rt.plural,
                subresource=route.sub,
                namespace=meta.get("namespace", "") if rt.namespaced else "",
                name=meta.get("name", name),
                operation=operation,
                obj=obj,
                old=old if operation != "CREATE" else None,
                dry_run=opts.dry_run,
                namespace_labels=namespace_labels,
            )
            warnings = await admission.admit(configs, request)
            if opts.dry_run:
                opts.warnings.extend([*probe.warnings, *warnings])
                return would_be
            latest = self.store.find(rt, ns, name) if name else None
            if (latest["metadata"]["resourceVersion"] if latest else None) != seen_rv:
                continue  # changed meanwhile: admit the new state again
            opts.warnings.extend(warnings)
            if operation == "CREATE" and obj is not None:
                opts.preset = {
                    "name": meta.get("name"),
                    "uid": meta.get("uid"),
                    "creationTimestamp": meta.get("creationTimestamp"),
                }
            return write(opts)
        raise conflict(rt.group, rt.plural, name, "the object kept changing during admission")

    def _write_options(self, request: web.Request) -> WriteOptions:
        validation = request.query.get("fieldValidation") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise bad_request(f"fieldValidation parameter unsupported: {validation}")
        manager = request.query.get("fieldManager") or request.headers.get("User-Agent", "").split("/")[0]
        return WriteOptions(
            dry_run=parse_dry_run(request.query.get("dryRun")),
            field_validation=validation,
            field_manager=manager,
            force=request.query.get("force", "").lower() == "true",
        )

    async def _body(self, request: web.Request, *, optional: bool = False) -> Any:
        raw = await request.read()
        if not raw.strip():
            if optional:
                return None
            raise bad_request("the request body is empty")
        try:
            if request.content_type == protobuf.PROTOBUF:
                return protobuf.decode(raw)
            if "yaml" in request.content_type:
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    # ------------------------------------------------------------------ reads

    @staticmethod
    def _wants(request: web.Request, what: str) -> bool:
        return f"as={what}" in request.headers.get("Accept", "").replace(" ", "")

    def _render_one(self, request: web.Request, route: Route, obj: dict[str, Any]) -> web.Response:
        if self._wants(request, "Table"):
            include = request.query.get("includeObject", "Metadata")
            return _json(
                tables.to_table(route.rt, route.version, [obj], obj["metadata"]["resourceVersion"], include)
            )
        if self._wants(request, "PartialObjectMetadata"):
            return _json(
                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
            )
        return _json(obj)

    def _list_body(
        self, route: Route, items: list[dict[str, Any]], cont: str | None = None
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if cont:
            meta["continue"] = cont
        return {
            "kind": route.rt.list_kind,
            "apiVersion": route.rt.api_version(route.version),
            "metadata": meta,
            "items": items,
        }

    def _list(self, request: web.Request, route: Route) -> web.Response:
        q = request.query
        matches = object_matcher(q.get("labelSelector"), q.get("fieldSelector"))
        items = self.api.list_objects(route.rt, route.version, route.namespace, matches)
        cont_token: str | None = None
        if q.get("continue"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(q["continue"]).decode()))
            except ValueError as exc:
                raise bad_request("invalid continue token") from exc
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        limit = int(q.get("limit") or 0)
        if limit and len(items) > limit:
            items = items[:limit]
            last = items[-1]["metadata"]
            cont_token = base64.urlsafe_b64encode(
                json.dumps([last.get("namespace", ""), last["name"]]).encode()
            ).decode()
        if self._wants(request, "Table"):
            include = q.get("includeObject", "Metadata")
            return _json(
                tables.to_table(route.rt, route.version, items, str(self.store.rv), include, cont_token)
            )
        if self._wants(request, "PartialObjectMetadataList"):
            partial = [
                {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
                for o in items
            ]
            return _json(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"resourceVersion": str(self.store.rv)},
                    "items": partial,
                }
            )
        return _json(self._list_body(route, items, cont_token))

    # ------------------------------------------------------------------ watch

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        q = request.query
        matches = object_matcher(q.get("labelSelector"), q.get("fieldSelector"))
        raw_rv = q.get("resourceVersion") or ""
        initial = q.get("sendInitialEvents") == "true"
        since: int | None = None
        if raw_rv not in ("", "0") and not initial:
            try:
                since = int(raw_rv)
            except ValueError as exc:
                raise bad_request(f'resourceVersion: Invalid value: "{raw_rv}": must be a number') from exc
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        as_table = self._wants(request, "Table")
        include = q.get("includeObject", "Metadata")

        watcher = Watcher(route.rt.key, route.namespace, matches)
        backlog: list[tuple[str, dict[str, Any]]]
        too_old: TooOld | None = None
        try:
            backlog = self.store.subscribe(watcher, since)
        except TooOld as exc:
            too_old, backlog = exc, []
        if since is None:  # "start at most recent": synthetic ADDED for the current state
            backlog = [("ADDED", obj) for obj in self.store.select(route.rt, route.namespace, matches)]

        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)

        def encode(event_type: str, obj: dict[str, Any]) -> bytes:
            if event_type in ("ERROR", "BOOKMARK"):
                shown = obj
            else:
                shown = self.api.present(route.rt, route.version, obj)
                if as_table:
                    shown = tables.to_table(
                        route.rt, route.version, [shown], shown["metadata"]["resourceVersion"], include
                    )
            return (json.dumps({"type": event_type, "object": shown}, separators=(",", ":")) + "\n").encode()

        def bookmark(end_of_initial: bool = False) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
            if end_of_initial:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            body = {
                "kind": route.rt.kind,
                "apiVersion": route.rt.api_version(route.version),
                "metadata": meta,
            }
            return encode("BOOKMARK", body)

        try:
            if too_old is not None:
                status = ApiError(410, "Expired", str(too_old)).status()
                await response.write(encode("ERROR", status))
                return response
            for event_type, obj in backlog:
                await response.write(encode(event_type, obj))
            if initial and bookmarks:
                await response.write(bookmark(end_of_initial=True))
            deadline = time.monotonic() + timeout if timeout is not None else None
            last_bookmark = time.monotonic()
            while not self.stopping:
                remaining = deadline - time.monotonic() if deadline is not None else 1.0
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(
                        watcher.queue.get(), timeout=min(remaining, self.bookmark_interval, 1.0)
                    )
                except TimeoutError:
                    if request.transport is None or request.transport.is_closing():
                        break
                    if bookmarks and time.monotonic() - last_bookmark >= self.bookmark_interval:
                        await response.write(bookmark())
                        last_bookmark = time.monotonic()
                    continue
                if item is None:
                    break
                await response.write(encode(*item))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        return response


def write_kubeconfig(
    path: str | Path,
    url: str,
    *,
    token: str = "sandbox-token",
    namespace: str = "default",
    context: str = "awsop-sandbox",
) -> Path:
    """Write a kubeconfig pointing at ``url`` (plain HTTP, dummy bearer token) and return its path."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}
        ],
        "current-context": context,
        "preferences": {},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


class KubeAPIServer:
    """A sandbox Kubernetes API server on 127.0.0.1 (see the package docstring for what it is not).

    ``start()``/``stop()`` run it in a background thread with its own event loop; it is also a
    context manager (``with``) and an async context manager (``async with``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        history_size: int = 1000,
        bookmark_interval: float = 30.0,
    ) -> None:
        if host not in _ALLOWED_HOSTS:
            raise ValueError("the sandbox API server only binds 127.0.0.1")
        self.host = "127.0.0.1"
        self.port = port
        self.api = Api(Store(history_size=history_size))
        self.app = App(self.api, bookmark_interval=bookmark_interval)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> KubeAPIServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="kubeapi-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None:
            raise RuntimeError("the sandbox API server failed to start") from self._failure
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(self._begin_stop)
        thread.join(10)
        self._thread = None

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> KubeAPIServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        return write_kubeconfig(path, self.url, namespace=namespace)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop (e.g. to inspect ``api.store``); return its result."""
        assert self._loop is not None, "server not started"

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:
            self._failure = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _startup(self) -> None:
        self._runner = web.AppRunner(
            self.app.web, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.app.address = f"{self.host}:{self.port}"

    def _begin_stop(self) -> None:
        self.app.stopping = True
        self.api.store.close_all()
        assert self._loop is not None
        self._loop.stop()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
