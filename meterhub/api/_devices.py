"""``/api/v1/devices``: the device registry, and each meter's live state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from litestar import Request, Router, delete, get, post, put
from litestar.handlers import HTTPRouteHandler  # noqa: TC002 (the same)
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody  # noqa: TC002 (Litestar resolves them at runtime)
from litestar.types import ASGIApp, Message, Receive, Scope, Send  # noqa: TC002 (the same)

from meterhub.adapters.stores import Device
from meterhub.api._auth import access
from meterhub.api._deps import View  # noqa: TC001 (Litestar resolves it at runtime)
from meterhub.api._problems import ApiProblem, bad_param, problem_specs
from meterhub.api._schemas import DeviceCreate, DeviceOut, DevicesOut, DeviceUpdate, Latest
from meterhub.api._view import SiteView  # noqa: TC001 (the same)

# The store's Device has no room for a key: we record only that one was given
KEY_SET = "meterhub.meter_key_set"
_RESERVED = "meterhub."
_TAGS = ["devices"]


def _out(device: Device, view: SiteView) -> DeviceOut:
    meta = device.metadata
    metadata = {k: v for k, v in meta.items() if not k.startswith(_RESERVED)}
    entry = view.board.get(device.id)
    return DeviceOut(
        id=device.id, name=device.name, device_type=device.device_type,
        location=device.location, tags=list(device.tags), metadata=metadata,
        meter_key_set=meta.get(KEY_SET) == "true",
        created_at=device.created_at, updated_at=device.updated_at,
        source=_source(meta.get("meterhub.source")),
        approval=meta.get("meterhub.approval"),
        format=meta.get("meterhub.format"), input=meta.get("meterhub.input"),
        profile=meta.get("meterhub.profile"),
        state=entry.status.state.value if entry is not None else None,
    )  # fmt: skip


def _source(source: str | None) -> Literal["config", "api", "mqtt"]:
    if source in {"config", "mqtt"}:
        return source  # type: ignore[return-value]
    return "api"


def _refuse_configured(view: SiteView, device_id: str) -> None:
    """A configured meter belongs to the site's file: the API never edits it."""
    if device_id in view.configured_ids():
        raise ApiProblem(409, f"device {device_id!r} is configured in the site's file "
                         "([[meters]]); change it there and restart",
                         param=("path", "device_id"), slug="configured-device")  # fmt: skip


def _device(device_id: str, data: DeviceUpdate, existing: Device | None) -> Device:
    for key in data.metadata:
        if key.startswith(_RESERVED):
            raise bad_param("body", f"metadata.{key}", f"keys starting {_RESERVED!r} are reserved")
    metadata = dict(data.metadata)
    if existing is not None:
        # what meterhub itself keeps (an MQTT device's input and approval) stays
        metadata |= {k: v for k, v in existing.metadata.items()
                     if k.startswith(_RESERVED) and k != KEY_SET}  # fmt: skip
    was_set = existing is not None and existing.metadata.get(KEY_SET) == "true"
    if (data.meter_key is None and was_set) or data.meter_key:
        metadata[KEY_SET] = "true"
    now = datetime.now(UTC)
    return Device(
        id=device_id, name=data.name or device_id, device_type=data.device_type,
        location=data.location, tags=list(data.tags), metadata=metadata,
        created_at=existing.created_at if existing else now, updated_at=now,
    )  # fmt: skip


async def _existing(view: View, device_id: str) -> Device:
    device = await view.store.get_device(device_id)
    if device is None:
        raise ApiProblem(404, f"no device {device_id!r}", param=("path", "device_id"))
    return device


@get("/devices", opt=access("viewer"), summary="List devices")
async def list_devices(view: View) -> DevicesOut:
    """Every registered device, ordered by id."""
    return DevicesOut(items=[_out(d, view) for d in await view.store.list_devices()])


@post("/devices", opt=access("admin"), summary="Register a device",
      responses=problem_specs(409))  # fmt: skip
async def create_device(view: View, data: JSONBody[DeviceCreate]) -> DeviceOut:
    """Register a device; 409 if the id is taken. A meter key is accepted but not used."""
    if await view.store.get_device(data.id) is not None:
        raise ApiProblem(409, f"device {data.id!r} exists; use PUT to change it",
                         param=("body", "id"))  # fmt: skip
    device = _device(data.id, data, None)
    await view.store.upsert_device(device)
    await view.devices_changed()
    return _out(device, view)


@get("/devices/{device_id:str}", opt=access("viewer"), summary="Get a device",
     responses=problem_specs(404))  # fmt: skip
async def get_device(view: View, device_id: FromPath[str]) -> DeviceOut:
    """One device."""
    return _out(await _existing(view, device_id), view)


@put("/devices/{device_id:str}", opt=access("admin"), summary="Update a device",
     responses=problem_specs(404, 409))  # fmt: skip
async def update_device(
    view: View, device_id: FromPath[str], data: JSONBody[DeviceUpdate]
) -> DeviceOut:
    """Replace a device's fields; an omitted ``meter_key`` keeps whether one was set.

    A meter configured in the site's file is refused with 409: the file owns it.
    """
    existing = await _existing(view, device_id)
    _refuse_configured(view, device_id)
    device = _device(device_id, data, existing)
    await view.store.upsert_device(device)
    await view.devices_changed()
    return _out(device, view)


@delete("/devices/{device_id:str}", opt=access("admin"), summary="Delete a device",
        responses=problem_specs(404, 409))  # fmt: skip
async def delete_device(view: View, device_id: FromPath[str]) -> None:
    """Remove a device from the registry (its readings stay); 409 for a configured one."""
    _refuse_configured(view, device_id)
    if not await view.store.delete_device(device_id):
        raise ApiProblem(404, f"no device {device_id!r}", param=("path", "device_id"))
    await view.devices_changed()


def latest_handler(view: SiteView) -> HTTPRouteHandler:
    """The ``devices/{id}/latest`` handler, bound to the site.

    Bound rather than injected: it is the hottest route, and dependency injection was a
    noticeable share of its cost.
    """

    @get("/devices/{device_id:str}/latest", opt=access("viewer"),
         summary="Latest reading and status",
         responses={200: ResponseSpec(Latest, description="The meter's live state"),
                    **problem_specs(404)})  # fmt: skip
    async def latest(request: Request[Any, Any, Any]) -> ASGIApp:
        """The meter's status and latest reading from its actor's live state (not the store).

        A configured meter that has not reported yet has null ``status`` and ``reading``.
        """
        # read from the route's path parameters, not declared as an argument: Litestar
        # then validates no arguments for the hottest route (a plain str needs none)
        device_id: str = request.path_params["device_id"]
        entry = view.board.get(device_id)
        if entry is None:
            if device_id not in view.meter_ids():
                raise ApiProblem(404, f"no meter {device_id!r} at this site",
                                 param=("path", "device_id"))  # fmt: skip
            body = Latest(meter_id=device_id, status=None, reading=None)
        else:
            body = Latest(meter_id=device_id, status=entry.status, reading=entry.reading)
        # answered by its own small ASGI app: Litestar's response machinery (a
        # Response object, header normalisation) cost as much as the rest
        return json_app(_ENCODER.encode(body))

    return latest


_ENCODER = msgspec.json.Encoder()


def json_app(body: bytes) -> ASGIApp:
    """An ASGI app that answers ``200`` with a JSON ``body``."""
    start: Message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    message: Message = {"type": "http.response.body", "body": body, "more_body": False}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG001
        await send(start)
        await send(message)

    return app


def devices_router(view: SiteView) -> Router:
    """The device routes."""
    return Router(
        path="/",
        route_handlers=[list_devices, create_device, get_device, update_device, delete_device,
                        latest_handler(view)],
        tags=_TAGS,
    )  # fmt: skip
