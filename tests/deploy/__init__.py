"""Offline checks of the Helm chart: pinned helm and kubeconform, and generated schemas."""
