violation contains {"msg": msg} if {
	some c in all_containers
	not regex.match(`@sha256:[a-f0-9]{64}$`, c.image)
	msg := sprintf("container <%v>: image <%v> is not pinned by digest (name@sha256:<64 hex>)", [c.name, c.image])
}

violation contains {"msg": msg} if {
	some c in all_containers
	endswith(split(c.image, "@")[0], ":latest")
	msg := sprintf("container <%v>: image <%v> names the tag latest", [c.name, c.image])
}
