"""Which fields of the built-in kinds hold a `resource.Quantity`.

The generated client models type a Quantity as a plain string, so the fields
are named here, by model: field -> True when the field is a map of
quantities (a ResourceList), False for a single one. Used where bodies are
decoded (numbers accepted, every value parsed and stored canonical, as
Quantity.UnmarshalJSON and MarshalJSON do) and by server-side apply's type
checks.
"""

from __future__ import annotations

QUANTITY_FIELDS: dict[str, dict[str, bool]] = {
    "V1ResourceRequirements": {"limits": True, "requests": True},
    "V1VolumeResourceRequirements": {"limits": True, "requests": True},
    "V1EmptyDirVolumeSource": {"sizeLimit": False},
    "V1ResourceFieldSelector": {"divisor": False},
    "V1PodSpec": {"overhead": True},
    "V1PodStatus": {"allocatedResources": True},
    "V1ContainerStatus": {"allocatedResources": True},
    "V1Overhead": {"podFixed": True},
    "V1NodeStatus": {"allocatable": True, "capacity": True},
    "V1LimitRangeItem": {
        "default": True,
        "defaultRequest": True,
        "max": True,
        "maxLimitRequestRatio": True,
        "min": True,
    },
    "V1ResourceQuotaSpec": {"hard": True},
    "V1ResourceQuotaStatus": {"hard": True, "used": True},
    "V1PersistentVolumeSpec": {"capacity": True},
    "V1PersistentVolumeClaimStatus": {"allocatedResources": True, "capacity": True},
    "V1CSIStorageCapacity": {"capacity": False, "maximumVolumeSize": False},
    "V2MetricTarget": {"averageValue": False, "value": False},
    "V2MetricValueStatus": {"averageValue": False, "value": False},
}
