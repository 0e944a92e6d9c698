"""What the local platform runs for real: ECS tasks as processes from their image's source,
placed on the cluster's container instances (see ``emulator/README.md``, *Tasks run*).

- ``image``: an image's command and environment read from its Dockerfile and build context
- ``pids``: every process started, recorded in the state directory, so none outlives the emulator
- ``placement``: which container instance a task goes to, or ECS's reason why none fits
- ``tasks``: one task: its environment and secrets as ECS injects them, its process
- ``scheduler``: keeps each service's desired count of tasks running
"""
