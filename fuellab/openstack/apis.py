"""The APIs the gateway serves, one per service."""

from __future__ import annotations

from fuellab.openstack.cinder import CinderApi
from fuellab.openstack.common import Api
from fuellab.openstack.glance import GlanceApi
from fuellab.openstack.heat import HeatApi
from fuellab.openstack.keystone import KeystoneApi
from fuellab.openstack.neutron import NeutronApi
from fuellab.openstack.nova import NovaApi


def build() -> dict[str, Api]:
    apis: list[Api] = [KeystoneApi(), NovaApi(), CinderApi(), NeutronApi(), GlanceApi(), HeatApi()]
    return {api.service: api for api in apis}
