# The pod spec of whatever is reviewed (a Pod, a workload's template, a CronJob's job template)
# and its containers. Included into every template's package (Gatekeeper gives each template its
# own package; a shared library would need the templates' libs field and the same engine).
pod_spec := input.review.object.spec if {
	input.review.object.kind == "Pod"
}

pod_spec := input.review.object.spec.template.spec if {
	input.review.object.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_spec := input.review.object.spec.jobTemplate.spec.template.spec if {
	input.review.object.kind == "CronJob"
}

# Containers that run the workload: regular and init (ephemeral debug containers are not).
workload_containers contains c if {
	some c in object.get(pod_spec, "containers", [])
}

workload_containers contains c if {
	some c in object.get(pod_spec, "initContainers", [])
}

all_containers contains c if {
	some c in workload_containers
}

all_containers contains c if {
	some c in object.get(pod_spec, "ephemeralContainers", [])
}

container_sc(c) := object.get(c, "securityContext", {})

pod_sc := object.get(pod_spec, "securityContext", {})
