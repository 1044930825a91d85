"""What an order asks back and what has come: the returns station's one reckoning.

Read from a loaded order, a model or a view alike (their attributes have the same names), by
the station page, the order page, the API's answers, the patient page's "still owed" and the
station's own status moves (``returns_station``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.orders.models import ARRIVED, LOST, UNEXPECTED


@dataclass
class ExpectedDevice:
    """One device the order asks back: named, or inside a packed kit (``kit``)."""

    device: Any  # a catalog Device, or its view
    kit: str | None
    check_in: Any = None  # its ReturnCheckIn (or view): arrived, or closed as lost

    @property
    def arrived(self) -> bool:
        return self.check_in is not None and self.check_in.outcome == ARRIVED

    @property
    def lost(self) -> bool:
        return self.check_in is not None and self.check_in.outcome == LOST

    @property
    def missing(self) -> bool:
        return self.check_in is None


@dataclass
class ReturnProgress:
    """What an order (a model or a view) asks back, and what has come: the one reckoning the
    station page, the order page, the API and the status moves read."""

    devices: list[ExpectedDevice]
    items: list  # the counted return lines (count, arrived_count, item)
    unexpected: list = field(default_factory=list)  # check-ins of devices not asked back

    @property
    def devices_back(self) -> int:
        return sum(1 for d in self.devices if d.arrived)

    @property
    def missing_devices(self) -> list[ExpectedDevice]:
        return [d for d in self.devices if d.missing]

    @property
    def missing_items(self) -> list:
        return [line for line in self.items if line.arrived_count < line.count]

    @property
    def anything_back(self) -> bool:
        return self.devices_back > 0 or any(line.arrived_count for line in self.items)

    @property
    def complete(self) -> bool:
        return not self.missing_devices and not self.missing_items

    @property
    def summary(self) -> str:
        """ "2 of 3 devices back", and the counted items: "4 of 10 units back"."""
        parts = []
        if self.devices:
            total = len(self.devices)
            parts.append(f"{self.devices_back} of {total} device{'s' if total != 1 else ''} back")
        if self.items:
            total = sum(line.count for line in self.items)
            back = sum(line.arrived_count for line in self.items)
            parts.append(f"{back} of {total} counted unit{'s' if total != 1 else ''} back")
        return ", ".join(parts)


def progress(order) -> ReturnProgress:
    """From the loaded order (a model or a view), reading nothing more."""
    by_device = {c.device_id: c for c in order.check_ins}
    devices = [ExpectedDevice(rd.device, None) for rd in order.return_devices]
    for rpk in order.return_packed_kits:
        pk = rpk.packed_kit
        kit = f"{pk.kit.name}, packed kit {pk.id}"
        devices += [ExpectedDevice(od.device, kit) for od in pk.devices]
    for expected in devices:
        expected.check_in = by_device.get(expected.device.id)
    unexpected = [c for c in order.check_ins if c.outcome == UNEXPECTED]
    return ReturnProgress(devices, list(order.return_items), unexpected)


def device_name(device) -> str:
    """ "Blood pressure monitor BP7450-0001": the item and its identifiers."""
    values = ", ".join(i.value for i in device.identifiers)
    return f"{device.item.name} {values}".strip()
