"""``python -m ecs_service``: run the service described by ``$SERVICE_DEFINITION``."""

from ecs_service.server import main

raise SystemExit(main())
