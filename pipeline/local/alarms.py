"""The DLQ alarm, evaluated locally where the emulator does not evaluate CloudWatch alarms."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pipeline.adapters.queue import Queue
from pipeline.adapters.topic import Topic
from pipeline.settings import Settings

log = logging.getLogger(__name__)


class DlqAlarm:
    """Watch DLQ depth; on every state change publish a CloudWatch-alarm-shaped message to the alerts topic."""

    def __init__(
        self,
        settings: Settings,
        dlq: Queue,
        alerts: Topic,
        *,
        emulator_evaluates: bool = False,
    ) -> None:
        self.settings = settings
        self.dlq = dlq
        self.alerts = alerts
        # Where the emulator evaluates the real alarm (LocalStack), publishing here too would alert twice. Nor is
        # the real alarm's state set here: SetAlarmState runs the alarm's actions (on AWS, and on MiniStack), so
        # operators would get a second alert for every one this publishes.
        self.emulator_evaluates = emulator_evaluates
        self.state = "INSUFFICIENT_DATA"

    def evaluate(self) -> str:
        """Check the DLQ once; publish and return the new state when it changed."""
        depth = self.dlq.depth()
        count = depth["visible"] + depth["in_flight"]
        new = "ALARM" if count > 0 else "OK"
        if new == self.state:
            return new
        old, self.state = self.state, new
        if old == "INSUFFICIENT_DATA" and new == "OK":
            return new  # the first look at an empty DLQ is not news
        if self.emulator_evaluates:
            log.info("DLQ %s -> %s; the emulator's own CloudWatch alarm notifies", old, new, extra={"stage": "alarm"})
            return new
        reason = f"DLQ {self.settings.names.dlq_name} holds {count} message(s) (threshold 0)"
        self.alerts.publish(
            self.message(old, new, reason),
            subject=f'{new}: "{self.settings.names.dlq_alarm_name}" in {self.settings.region}',
            attributes={
                "alarm": self.settings.names.dlq_alarm_name,
                "state": new,
                "environment": self.settings.environment,
            },
        )
        log.warning("DLQ alarm %s -> %s: %s", old, new, reason, extra={"stage": "alarm", "dlq_depth": count})
        return new

    def message(self, old: str, new: str, reason: str) -> dict[str, Any]:
        """The message CloudWatch itself would publish for this alarm."""
        return {
            "AlarmName": self.settings.names.dlq_alarm_name,
            "AlarmDescription": "Jobs are failing repeatedly and landing in the dead-letter queue",
            "NewStateValue": new,
            "OldStateValue": old,
            "NewStateReason": reason,
            "StateChangeTime": datetime.now(UTC).isoformat(),
            "Region": self.settings.region,
            "Trigger": {
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Namespace": "AWS/SQS",
                "Statistic": "MAXIMUM",
                "Dimensions": [{"name": "QueueName", "value": self.settings.names.dlq_name}],
                "Period": 60,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 0.0,
            },
        }
