# Must be set false explicitly: the kernel's default allows escalation.
violation contains {"msg": msg} if {
	some c in all_containers
	object.get(container_sc(c), "allowPrivilegeEscalation", true) != false
	msg := sprintf("container <%v>: securityContext.allowPrivilegeEscalation must be false", [c.name])
}
