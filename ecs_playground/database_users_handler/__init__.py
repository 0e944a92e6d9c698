"""The database users provisioner: the Lambda code asset of `ecs_playground.database_users`.

`index.py` is the handler (stdlib and PyMySQL only; boto3 comes with the Lambda runtime). The
construct bundles this folder with the PyMySQL package of the environment that runs the synth.
"""
