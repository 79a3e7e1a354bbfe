violation contains {"msg": msg} if {
	labels := object.get(input.review.object.metadata, "labels", {})
	some key in input.parameters.labels
	not labels[key]
	msg := sprintf("%v <%v>: label <%v> is required", [input.review.object.kind, input.review.object.metadata.name, key])
}
