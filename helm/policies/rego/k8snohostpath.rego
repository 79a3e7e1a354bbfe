violation contains {"msg": msg} if {
	some v in object.get(pod_spec, "volumes", [])
	v.hostPath
	msg := sprintf("volume <%v>: hostPath volumes are not allowed (path %v)", [v.name, v.hostPath.path])
}
