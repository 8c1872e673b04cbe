"""The embedded staging: a small payment platform of real processes on 127.0.0.1.

Parts: a PostgreSQL pair with streaming replication (``db-primary`` site A,
``db-standby`` site B), a failover controller, payment APIs (``api-a``, ``api-b``,
``api-canary``), a gateway, a release controller, alerting, and a fault proxy that
every link passes through.

Public API:

- :func:`gameday.sandbox.manage.up`, ``status``, ``down``, ``start_component``,
  ``stop_component``, ``kill_component``, ``component_pid`` (they live in ``startup``,
  ``status``, ``control`` and ``teardown``)
- :mod:`gameday.sandbox.topology` — the components, sites, groups, links and database
  names, one description for both variants
- :mod:`gameday.sandbox.container` — the same sandbox in Docker containers (tests, benches)
- :class:`gameday.sandbox.client.SandboxClient` — admin calls (links, gateway,
  failover, rollouts, alert receiver, API versions)
- :class:`gameday.sandbox.settings.SandboxSettings`,
  :class:`gameday.sandbox.state.SandboxState`
- :func:`gameday.sandbox.events.read_events` — the ground-truth event log
- :mod:`gameday.sandbox.commands` — ``cmd_up``/``cmd_status``/``cmd_down`` for the CLI
"""
