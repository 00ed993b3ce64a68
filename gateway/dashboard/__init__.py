"""The staff dashboard (工作看板) served by the gateway: see :mod:`gateway.dashboard.router`."""
