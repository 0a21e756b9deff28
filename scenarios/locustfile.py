"""A dashboard session against the render app (``scenarios/app.py``), for locust.

A user opens the dashboard (their stats), then, with a short pause between clicks, mostly
lists projects, opens renders with their context, checks credits and pages through the
gallery; now and then a render worker's batch status update or a chain deletion goes
through.  The task weights below are that mix.  Each user drives one variant for its
whole session: :class:`NaiveUser` the "before" code, :class:`OptimizedUser` ours;
``dalperf load --variant both`` splits the users evenly between the two classes, so both
variants run side by side on the same machine at the same time.

``record_requests`` keeps each request's exact response time and the app's query count
for ``dalperf load`` (see :mod:`dalperf.loadtest.driver`).  Run by hand, e.g. against an app
already serving on port 8000::

    locust -f scenarios/locustfile.py --host http://127.0.0.1:8000 OptimizedUser
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, between, events, task

from dalperf.loadtest.locust_side import record_requests, request_context

THINK_TIME_S = (0.0, 0.1)  # pause between two clicks, uniform

record_requests(events)


class DashboardUser(FastHttpUser):
    """One dashboard session; subclasses choose the variant."""

    abstract = True
    variant: str
    wait_time = between(*THINK_TIME_S)

    def context(self) -> dict[str, Any]:
        return request_context(self.variant, self)

    def on_start(self) -> None:
        self._get("user-stats")

    def _get(self, path: str) -> None:
        self.client.get(f"/{self.variant}/{path}")

    @task(5)
    def projects(self) -> None:
        self._get("projects")

    @task(4)
    def render_context(self) -> None:
        self._get("render-context")

    @task(3)
    def user_stats(self) -> None:
        self._get("user-stats")

    @task(3)
    def credits(self) -> None:
        self._get("credits")

    @task(2)
    def gallery(self) -> None:
        self._get("gallery")

    @task(1)
    def status_batch(self) -> None:
        self.client.post(f"/{self.variant}/renders/status")

    @task(1)
    def delete_chain(self) -> None:
        self.client.delete(f"/{self.variant}/chain")


class NaiveUser(DashboardUser):
    variant = "naive"


class OptimizedUser(DashboardUser):
    variant = "optimized"
