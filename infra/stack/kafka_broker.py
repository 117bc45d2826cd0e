"""Apache Kafka in KRaft mode (one JVM as broker and controller), from jars Maven resolves."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import KafkaError

from infra.stack.component import Component
from infra.stack.errors import StackError
from infra.stack.layout import Endpoint, write_if_changed
from infra.stack.processes import run_command

POM = Path(__file__).parent / "kafka" / "pom.xml"
_TOPIC_ALREADY_EXISTS = 36
_CLIENT_TIMEOUT_SECONDS = 10.0


class Kafka(Component):
    """The broker the relay publishes to and the projectors consume from."""

    name = "kafka"
    start_timeout = 90.0
    stop_timeout = 30.0

    @property
    def endpoint(self) -> Endpoint:
        """The PLAINTEXT listener: the first bootstrap server in the settings."""
        return Endpoint.from_host_port(self.settings.kafka.bootstrap_servers)

    @property
    def controller(self) -> Endpoint:
        """The KRaft controller listener."""
        return Endpoint(self.endpoint.host, self.settings.stack.kafka_controller_port)

    def extra_ports(self) -> list[Endpoint]:
        """The controller port must be free too."""
        return [self.controller]

    @property
    def home(self) -> Path:
        """libs/, config/, data/ and the cluster id."""
        return self.paths.home(self.name)

    def install(self) -> bool:
        """Copy Kafka's runtime jars into libs/ unless they already match the pom."""
        for tool in ("java", "mvn"):
            if shutil.which(tool) is None:
                raise StackError(self.name, f"`{tool}` is not on PATH; install JDK 17+ and Maven")
        libs, marker = self.home / "libs", self.home / "libs" / ".pom-sha256"
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()
        if marker.exists() and marker.read_text().strip() == digest:
            return False
        # A half-copied or older set of jars must not mix with the new one on the classpath.
        shutil.rmtree(libs, ignore_errors=True)
        maven = ["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(POM)]
        maven += [
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ]
        run_command(self.name, maven, self.paths.log("kafka-install"), timeout=900)
        marker.write_text(f"{digest}\n")
        return True

    def prepare(self) -> None:
        """Write server.properties and the log4j2 config; format the storage once."""
        write_if_changed(self.home / "config" / "server.properties", self._server_properties())
        write_if_changed(self.home / "config" / "log4j2.properties", self._log4j2_properties())
        if (self.home / "data" / "meta.properties").exists():
            return
        storage_tool = [*self._java(), "kafka.tools.StorageTool", "format"]
        storage_tool += ["-t", self._cluster_id(), "-c", "config/server.properties", "--standalone"]
        run_command(self.name, storage_tool, self.paths.log("kafka-install"), cwd=self.home)

    def command(self) -> list[str]:
        """The broker JVM."""
        return [*self._java(), "kafka.Kafka", "config/server.properties"]

    def workdir(self) -> Path:
        """libs/* and config/ are relative to the Kafka home."""
        return self.home

    def diagnostic_logs(self) -> list[Path]:
        """The JVM's own output, and the broker's log4j2 file where Kafka explains itself."""
        return [self.log_path, self.paths.log("kafka-server")]

    def ready(self) -> bool:
        """The port is open (cheap) and a client can fetch metadata."""
        return self.endpoint.accepts_connections() and self.health()

    def health(self) -> bool:
        """A real client fetches the cluster's metadata."""
        try:
            asyncio.run(_list_topics(str(self.endpoint)))
        except (KafkaError, OSError, TimeoutError):
            return False
        return True

    def ensure(self) -> None:
        """Create the events topic with the configured partitions, or grow it to them."""
        topic, partitions = self.settings.kafka.topic, self.settings.kafka.partitions
        give_up_at, last_error = time.monotonic() + 30, ""
        # Right after start the controller may not accept topic creation yet: retry briefly.
        while time.monotonic() < give_up_at:
            try:
                asyncio.run(_ensure_topic(str(self.endpoint), topic, partitions))
                return
            except (KafkaError, OSError, TimeoutError) as error:
                last_error = f"{type(error).__name__}: {error}"
                time.sleep(0.5)
        raise StackError(self.name, f"could not create topic {topic!r}: {last_error}")

    def _java(self) -> list[str]:
        log4j = self.home / "config" / "log4j2.properties"
        heap = ["-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError"]
        # log4j2's own shutdown hook would stop logging before Kafka's hook finishes shutting down;
        # every event is flushed as it is written, so nothing is lost without it.
        logging = [f"-Dlog4j2.configurationFile={log4j}", "-Dlog4j2.shutdownHookEnabled=false"]
        return ["java", *heap, "-Djava.awt.headless=true", *logging, "-cp", "libs/*"]

    def _cluster_id(self) -> str:
        """Kafka's own format: 16 random bytes, base64url, unpadded, never starting with '-'."""
        record = self.home / "cluster-id"
        if not record.exists():
            cluster_id = "-"
            while cluster_id.startswith("-"):
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            record.write_text(f"{cluster_id}\n")
        return record.read_text().strip()

    def _server_properties(self) -> str:
        listener, controller = self.endpoint, self.controller
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://{listener},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{listener}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            # A dynamic quorum of one, created by `StorageTool format --standalone`.
            "controller.quorum.bootstrap.servers": str(controller),
            "log.dirs": str(self.home / "data"),
            "num.partitions": "6",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created deliberately (ours by `ensure`, tests' by the tests).
            "auto.create.topics.enable": "false",
        }
        lines = [f"{key}={value}" for key, value in properties.items()]
        return (
            "# Generated by `ledger stack up`; edits are overwritten.\n" + "\n".join(lines) + "\n"
        )

    def _log4j2_properties(self) -> str:
        server_log = self.paths.log("kafka-server")
        return f"""\
# Generated by `ledger stack up`; edits are overwritten.
status = warn
appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = {server_log}
appender.server.filePattern = {server_log}.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 20MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


async def _list_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ledger-stack")
    try:
        await asyncio.wait_for(admin.start(), _CLIENT_TIMEOUT_SECONDS)
        topics: list[str] = await asyncio.wait_for(admin.list_topics(), _CLIENT_TIMEOUT_SECONDS)
        return topics
    finally:
        await admin.close()


async def _ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ledger-stack")
    try:
        await asyncio.wait_for(admin.start(), _CLIENT_TIMEOUT_SECONDS)
        if topic not in await admin.list_topics():
            response = await admin.create_topics([NewTopic(topic, partitions, 1)])
            for name, code, message in (entry[:3] for entry in response.topic_errors):
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    # Raised as a KafkaError so that `ensure` retries it until its deadline.
                    raise KafkaError(f"creating topic {name!r}: error code {code}, {message}")
            return
        (description,) = await admin.describe_topics([topic])
        if len(description["partitions"]) < partitions:
            await admin.create_partitions({topic: NewPartitions(partitions)})
    finally:
        await admin.close()
