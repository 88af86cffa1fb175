"""Push, the NHS way: each organisation's bundles to its MESH mailbox (NHS England's `mesh-client`).

`config` reads the MESH configuration (carebridge's mailbox, ODS code -> recipient mailbox);
`deliver` sends the bundles not yet delivered and keeps the delivery log. See docs/trusts.md.
"""

from carebridge.mesh.config import MeshConfig, MeshConfigError, load_mesh_config
from carebridge.mesh.deliver import Delivery, deliver_bundles, delivery_log_path, read_delivery_log

__all__ = ["MeshConfig", "MeshConfigError", "load_mesh_config", "Delivery", "deliver_bundles",
           "delivery_log_path", "read_delivery_log"]
