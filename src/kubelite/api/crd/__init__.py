"""CustomResourceDefinitions (apiextensions.k8s.io/v1): the object model side.

What kube-apiserver's apiextensions part decides without HTTP: whether a CRD
is valid (`validation`), whether its schemas are structural (`structural`)
and give list and map extensions a meaning they can have (`list_extensions`),
which names it may use (`status`), and, for the custom resources it
defines, how a body is pruned (`pruning`), defaulted (`defaulting`) and
validated against the schema (`schema_validation`), its set and map lists
(`listtype`) and its CEL rules (`cel_rules`, with `field_path` for a rule's
`fieldPath`). `types` turns an
established CRD into the `ResourceType`s the API server serves.
"""

from __future__ import annotations

from kubelite.api.crd.types import CRD_API_VERSION, CRD_KIND, CustomResource, resource_types

__all__ = ["CRD_API_VERSION", "CRD_KIND", "CustomResource", "resource_types"]
