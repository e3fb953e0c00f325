"""Network zoo: ``create_network(name, ...)`` builds any registered architecture."""

from networks import vgg  # noqa: F401  (registers the VGG family)
from networks.registry import NetworkSpec, create_network, list_networks, register_network

__all__ = ["NetworkSpec", "create_network", "list_networks", "register_network"]
