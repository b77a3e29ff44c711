"""Pod Security admission: the Pod Security Standards enforced per namespace, as
kube-apiserver's built-in `PodSecurity` plugin enforces them (`policy` holds the
checks, `plugin` the admission flow)."""
