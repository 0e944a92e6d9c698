"""The one base of the CloudFormation models the emulator adds to moto 5.2.5, and the one way it
changes moto's own models.

moto's engine calls a model through ``CloudFormationModel``: ``cloudformation_type``,
``cloudformation_name_type``, ``create_from_cloudformation_json``,
``update_from_cloudformation_json``, ``delete_from_cloudformation_json``,
``physical_resource_id``, ``has_cfn_attr``, ``get_cfn_attribute``. :class:`EmulatedModel`
implements that interface once; a model declares what it is::

    class Subscription(EmulatedModel):
        cfn_type = "AWS::SNS::Subscription"     # the CloudFormation type
        name_property = ""                       # the property that names it (none: generated)
        attributes = get_att(Arn="arn")          # Fn::GetAtt name -> the model's attribute
        replace_on = None                        # properties whose change replaces it (None: all)

        @classmethod
        def create(cls, resource_name, properties, account_id, region_name): ...  # in moto
        def delete(self, account_id, region_name): ...                            # from moto
        def update_in_place(self, name, properties, account_id, region_name): ... # if replace_on

:func:`register` makes moto's engine see the models (it only knows ``CloudFormationModel``'s
direct subclasses); :func:`patch_model` gives one of moto's own models our create, update,
delete or physical ID.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel

from emulator.compat.util import physical_id, props


def get_att(**attributes: str) -> Mapping[str, str]:
    """A model's ``Fn::GetAtt`` attributes, read-only: ``get_att(Arn="arn")`` answers ``Arn``
    with the model's ``arn``; a dotted path reads on (``"namespace.dns_properties.HostedZoneId"``:
    an attribute, then a key of a dict)."""
    return MappingProxyType(attributes)


def _value_at(properties: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``DnsConfig.RoutingPolicy``); None where a part is absent."""
    value: Any = properties
    for part in path.split("."):
        value = (value or {}).get(part)
    return value


def _comparable(value: Any) -> Any:
    """A resolved value as compared between two updates (a model by its physical ID)."""
    return physical_id(value) if hasattr(value, "physical_resource_id") else value


class EmulatedModel(CloudFormationModel):
    """A resource type moto lacks, created in moto's own service backend.

    ``name`` is the physical ID (what ``Ref`` returns); ``properties`` are the resolved
    properties it was created or last updated with.
    """

    cfn_type: ClassVar[str] = ""
    """The CloudFormation type, e.g. ``AWS::SNS::Subscription``."""
    name_property: ClassVar[str] = ""
    """The property that names the resource (the engine keeps that name through updates); ""
    when CloudFormation generates it."""
    attributes: ClassVar[Mapping[str, str]] = get_att()
    """``Fn::GetAtt`` attribute -> the model's attribute that answers it (see :func:`get_att`)."""
    replace_on: ClassVar[tuple[str, ...] | None] = None
    """The properties (dotted paths into ``Properties``) whose change replaces the resource;
    a change of any other goes to :meth:`update_in_place`. None: every update replaces it."""

    def __init__(
        self, name: str, account_id: str, region_name: str, properties: dict[str, Any]
    ) -> None:
        self.name = name
        self.account_id = account_id
        self.region_name = region_name
        self.properties = properties

    # ------------------------------------------------------------ what a model implements

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> EmulatedModel:
        """Create the resource in its service's backend (``resource_name``: the name the engine
        chose, see :attr:`name_property`); by default there is nothing to create (a marker such
        as ``AWS::CDK::Metadata``)."""
        return cls(resource_name, account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        """Remove the resource from its service's backend (nothing by default)."""

    def replaced_by(self, name: str, properties: dict[str, Any]) -> bool:
        """Whether updating to ``properties`` under ``name`` replaces the resource (see
        :attr:`replace_on`)."""
        if self.replace_on is None:
            return True
        before, after = self.properties, properties
        return any(
            _comparable(_value_at(before, path)) != _comparable(_value_at(after, path))
            for path in self.replace_on
        )

    def update_in_place(
        self, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> EmulatedModel:
        """Apply an update that does not replace the resource; by default put it again under
        its name (the service's create overwrites)."""
        return type(self).create(name, properties, account_id, region_name)

    # ------------------------------------------------------------ moto's interface, once

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.cfn_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name not in self.attributes:
            raise UnformattedGetAttTemplateException()
        value: Any = self
        for part in self.attributes[attribute_name].split("."):
            value = value[part] if isinstance(value, Mapping) else getattr(value, part)
        return str(value)

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> EmulatedModel:
        return cls.create(resource_name, props(cloudformation_json), account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> EmulatedModel:
        """Replace (delete the old resource, create the new one) or update in place."""
        properties = props(cloudformation_json)
        if original_resource.replaced_by(new_resource_name, properties):
            original_resource.delete(account_id, region_name)
            return cls.create(new_resource_name, properties, account_id, region_name)
        updated: EmulatedModel = original_resource.update_in_place(
            new_resource_name, properties, account_id, region_name
        )
        return updated

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        """Unused: deletion goes through :meth:`delete` on the parsed resource."""


# ---------------------------------------------------------------- moto's engine sees them

_REGISTERED: list[type[EmulatedModel]] = []


def _model_list() -> list[type[CloudFormationModel]]:
    """moto's direct subclasses plus ours (which derive from ``EmulatedModel``, not directly);
    ours come last, so a type both define (``AWS::EC2::SecurityGroupIngress``) is ours."""
    return [*CloudFormationModel.__subclasses__(), *_REGISTERED]


def register(*models: type[EmulatedModel]) -> None:
    """Make moto's engine create ``models`` (its type map is cached on first use)."""
    _REGISTERED.extend(model for model in models if model not in _REGISTERED)
    parsing.get_model_list = functools.lru_cache(_model_list)
    for cached in (parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


# ---------------------------------------------------------------- moto's own models

Create = Callable[..., Any]
"""``(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)``, moto's
signature of ``create_from_cloudformation_json``."""
Update = Callable[..., Any]
"""``(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)``."""
Delete = Callable[[Any, str, str], None]
"""``(self, account_id, region_name)``: what the engine's ``_delete_resource`` calls."""


def patch_model(
    model: type[Any],
    *,
    create: Create | None = None,
    update: Update | None = None,
    delete: Delete | None = None,
    physical_id: Callable[[Any], str] | None = None,
) -> None:
    """Give one of moto's models (which cannot derive from :class:`EmulatedModel`) our create,
    update, delete or physical ID (what ``Ref`` returns), in moto's signatures."""
    if create is not None:
        model.create_from_cloudformation_json = classmethod(create)
    if update is not None:
        model.update_from_cloudformation_json = classmethod(update)
    if delete is not None:
        model.delete = delete
    if physical_id is not None:
        model.physical_resource_id = property(physical_id)
