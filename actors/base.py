"""What the detector, the order manager and the position tracker share: one deployment, one process lifetime.

Each is created with the run's ``Deployment`` and keeps it; reports a fresh ``incarnation`` per process (the
supervisor rewires an actor whose incarnation changed); calls its peers by name through Ray (``peers``) and, for the
hot path, over direct channels (``channels``, served per ``channel_settings``), a name routed where the supervisor says
(``set_route``) and renewed when a peer has a new process (``renew_channel``); and records the run's metrics
(``metrics``). ``health`` starts from ``identity()``.
"""
from __future__ import annotations

import os
from typing import Any

import ray

from actors.common import Deployment, new_incarnation
from actors.peers import Peers
from actors.telemetry import StartTimeline, process_metrics
from actors.transport import Channels, RenewsChannels, ServesChannel
from execution.log import install_redaction


class DeploymentActor(ServesChannel, RenewsChannels):
    def __init__(self, deployment: Deployment) -> None:
        install_redaction()  # before this process logs anything of the run
        self.deployment = deployment
        self.start_timeline = StartTimeline()
        self.incarnation = new_incarnation()
        self.peers = Peers()
        self.channel_settings = deployment.channels
        self.channels = Channels(self.peers, deployment.channels)
        self.node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        self.metrics = process_metrics(deployment.venue_names, deployment.symbols, deployment.detector_shards,
                                       metrics_dir=deployment.metrics_dir)

    async def set_route(self, name: str, actor: str) -> None:
        """Calls to the actor ``name`` go to ``actor`` from now on: the supervisor's word when a venue's standby
        exchange actor took it over (and to every new process of this actor)."""
        self.peers.route(name, actor)
        self.channels.drop(name)

    def identity(self) -> dict[str, Any]:
        """The start of every health answer: which process this is, on which Ray node, and where its start-up went."""
        return {"incarnation": self.incarnation, "pid": os.getpid(), "node_id": self.node_id,
                "start_timeline": list(self.start_timeline.steps)}
