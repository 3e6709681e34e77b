from django.apps import AppConfig


class PeersConfig(AppConfig):
    name = "bench.peers"
    label = "peers"
