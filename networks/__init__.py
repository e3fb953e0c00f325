"""Network zoo: ``create_network(name, ...)`` builds any registered architecture."""

from neurosnn.networks import backres, lenet, resnet, vgg  # noqa: F401  (register them)
from neurosnn.networks.registry import NetworkSpec, create_network, list_networks, register_network

__all__ = ["NetworkSpec", "create_network", "list_networks", "register_network"]
