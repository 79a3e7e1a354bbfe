violation contains {"msg": msg} if {
	some c in object.get(pod_spec, "containers", [])
	some probe in input.parameters.probes
	not c[probe]
	msg := sprintf("container <%v>: %v is required", [c.name, probe])
}
