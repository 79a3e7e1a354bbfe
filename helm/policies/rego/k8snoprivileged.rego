violation contains {"msg": msg} if {
	some c in all_containers
	object.get(container_sc(c), "privileged", false) == true
	msg := sprintf("container <%v>: privileged containers are not allowed", [c.name])
}
