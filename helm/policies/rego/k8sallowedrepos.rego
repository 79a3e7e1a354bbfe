violation contains {"msg": msg} if {
	some c in all_containers
	not allowed(c.image)
	msg := sprintf("container <%v>: image <%v> is not from an allowed registry %v", [c.name, c.image, input.parameters.repos])
}

allowed(image) if {
	some prefix in input.parameters.repos
	startswith(image, prefix)
}
