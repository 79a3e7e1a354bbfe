violation contains {"msg": msg} if {
	some c in workload_containers
	some kind in ["requests", "limits"]
	some resource in input.parameters[kind]
	not object.get(object.get(c, "resources", {}), kind, {})[resource]
	msg := sprintf("container <%v>: resources.%v.%v must be set", [c.name, kind, resource])
}
