"""The local stack: moto in server mode plus an API Gateway/Lambda emulation, from template.yaml.

`python -m local` (or `make dev`) runs it; `LocalStack` runs it in-process. Never deployed.
"""
