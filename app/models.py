"""Every model, imported in one place so that the metadata (and Alembic) sees them all."""

from app.auth.models import ApiKey, SignInAttempt, SignInClient, User  # noqa: F401
from app.catalog.models import Device, DeviceIdentifier, Item, Kit, KitItem, Manufacturer  # noqa: F401
from app.history.models import RecordChange  # noqa: F401
from app.inventory.models import (  # noqa: F401
    DeviceEvent,
    ItemBin,
    StockBalance,
    StockLocation,
    StockMovement,
    StockReceipt,
    StockUseCount,
)
from app.orders.models import (  # noqa: F401
    Order,
    OrderDayCount,
    OrderDevice,
    OrderEvent,
    OrderExternalId,
    OrderItem,
    OrderKit,
    OrderNote,
    OrderOutboxEntry,
    OrderShippedCount,
    PackedKit,
    ReturnDevice,
    ReturnItem,
    ReturnPackedKit,
    SubmissionKey,
    TrackingNumber,
)
from app.people.models import Address, Patient, PatientImport, Site, UserSite  # noqa: F401
from app.webhooks.models import WebhookAttempt, WebhookMessage, WebhookSubscription  # noqa: F401
