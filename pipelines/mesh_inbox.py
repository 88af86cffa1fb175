"""A sensor that moves extracts arriving in carebridge's own MESH inbox into the landing area.

Off unless `CAREBRIDGE_MESH_CONFIG` names a MESH configuration (carebridge/mesh/config.py; its
`mailbox` is the inbox polled). It only lands files (carebridge.mesh.inbox): the existing
`landing_sensor` then notices the new delivery folders and requests the staging runs, so there is
one way a delivery becomes a run, whether it was dropped on disk or came by MESH.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.resources import resource_from_env

MESH_CONFIG_ENV = "CAREBRIDGE_MESH_CONFIG"


@dg.sensor(minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED)
def mesh_inbox_sensor(context: dg.SensorEvaluationContext):
    """Lands every message of carebridge's MESH inbox (`<source>.<ODS>.<YYYY-MM>.<submission>.<table>.csv`)."""
    path = os.environ.get(MESH_CONFIG_ENV)
    if not path:
        return dg.SkipReason(f"{MESH_CONFIG_ENV} is not set: no MESH inbox to poll")
    from carebridge.mesh import load_mesh_config
    from carebridge.mesh.deliver import mesh_client
    from carebridge.mesh.inbox import UNRECOGNISED, collect_inbox

    config = load_mesh_config(path)
    landing = resource_from_env().landing
    with mesh_client(config) as client:
        collected = collect_inbox(client, landing)
    for message_id in collected.unrecognised:
        context.log.warning(f"MESH message {message_id} set aside in {landing / UNRECOGNISED / message_id} "
                            "(see its reason.txt)")
    return dg.SkipReason(f"landed {len(collected.landed)} files from MESH mailbox {config.mailbox}; "
                         f"{len(collected.unrecognised)} set aside; the landing sensor starts the runs")
