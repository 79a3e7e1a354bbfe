# A container's own setting wins over the pod's, as the kubelet applies them.
violation contains {"msg": msg} if {
	some c in all_containers
	object.get(container_sc(c), "runAsNonRoot", object.get(pod_sc, "runAsNonRoot", false)) != true
	msg := sprintf("container <%v>: runAsNonRoot must be true (securityContext of the container or the pod)", [c.name])
}

violation contains {"msg": msg} if {
	some c in all_containers
	object.get(container_sc(c), "runAsUser", object.get(pod_sc, "runAsUser", -1)) == 0
	msg := sprintf("container <%v>: runAsUser 0 is root", [c.name])
}
