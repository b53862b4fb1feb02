"""``/api/v1/device-types`` and ``/api/v1/applications``: what devices are and serve."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, put
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from meterhub.adapters.stores import Application, DeviceType
from meterhub.api._auth import access
from meterhub.api._deps import View  # noqa: TC001 (Litestar resolves it at runtime)
from meterhub.api._problems import ApiProblem, problem_specs
from meterhub.api._schemas import (
    NAME_PATTERN,
    ApplicationIn,
    ApplicationsOut,
    DeviceTypeIn,
    DeviceTypesOut,
)

PathName = Annotated[str, PathParameter(pattern=NAME_PATTERN, max_length=64,
                                    description="letters, digits, '.', '_' and '-'")]  # fmt: skip


@get("/device-types", opt=access("viewer"), summary="List device types", tags=["device types"])
async def list_device_types(view: View) -> DeviceTypesOut:
    """Every device type, ordered by name."""
    return DeviceTypesOut(items=await view.store.list_device_types())


@get("/device-types/{name:str}", opt=access("viewer"), summary="Get a device type",
     tags=["device types"], responses=problem_specs(404))  # fmt: skip
async def get_device_type(view: View, name: FromPath[str]) -> DeviceType:
    """One device type."""
    for device_type in await view.store.list_device_types():
        if device_type.name == name:
            return device_type
    raise ApiProblem(404, f"no device type {name!r}", param=("path", "name"))


@put("/device-types/{name:str}", opt=access("admin"), summary="Create or update a device type",
     tags=["device types"])  # fmt: skip
async def put_device_type(view: View, name: PathName, data: JSONBody[DeviceTypeIn]) -> DeviceType:
    """Create or replace a device type."""
    device_type = DeviceType(name=name, description=data.description, metrics=list(data.metrics))
    await view.store.upsert_device_type(device_type)
    await view.devices_changed()
    return device_type


@delete("/device-types/{name:str}", opt=access("admin"), summary="Delete a device type",
        tags=["device types"], responses=problem_specs(404))  # fmt: skip
async def delete_device_type(view: View, name: FromPath[str]) -> None:
    """Remove a device type."""
    if not await view.store.delete_device_type(name):
        raise ApiProblem(404, f"no device type {name!r}", param=("path", "name"))
    await view.devices_changed()


@get("/applications", opt=access("viewer"), summary="List applications", tags=["applications"])
async def list_applications(
    view: View,
    device_type: Annotated[
        str | None,
        QueryParameter(
            max_length=64, description="only applications registered for this device type"
        ),
    ] = None,
) -> ApplicationsOut:
    """Applications ordered by name, optionally those serving one device type."""
    return ApplicationsOut(items=await view.store.list_applications(device_type))


@put("/applications/{name:str}", opt=access("admin"), summary="Register an application",
     tags=["applications"])  # fmt: skip
async def put_application(view: View, name: PathName, data: JSONBody[ApplicationIn]) -> Application:
    """Register (or re-register) an application for device types."""
    application = Application(name=name, description=data.description,
                              device_types=sorted(set(data.device_types)))  # fmt: skip
    await view.store.upsert_application(application)
    await view.devices_changed()
    return application


@delete("/applications/{name:str}", opt=access("admin"), summary="Delete an application",
        tags=["applications"], responses=problem_specs(404))  # fmt: skip
async def delete_application(view: View, name: FromPath[str]) -> None:
    """Remove an application."""
    if not await view.store.delete_application(name):
        raise ApiProblem(404, f"no application {name!r}", param=("path", "name"))
    await view.devices_changed()


def registry_router() -> Router:
    """The device type and application routes."""
    return Router(path="/", route_handlers=[
        list_device_types, get_device_type, put_device_type, delete_device_type,
        list_applications, put_application, delete_application,
    ])  # fmt: skip
