"""The OpenStack services of an env, over the env's databases (fuellab.galera).

- `schema`: the one place that defines the service tables, their schema
  versions at Juno (6.1) and Kilo (7.0) and the migrations between them.
- `seed`: the rows a fresh Fuel deployment leaves in those databases.

The HTTP APIs (keystone, nova, cinder, neutron, glance, heat) read and write
the same tables:

- `gateway`: the listeners on every VIP and controller address, and the route
  of a request (address holders, the holder's HAProxy, an up backend);
- `haproxy`: a controller's HAProxy, its loaded configuration and its rules;
- `backend`: whether a service on a node runs and which database it reaches
  (its own config file's `[database] connection`, through fuellab.galera);
- `liveness`: up/down of registered services and agents, from what runs;
- `common`: errors, routing, the request context; `apis`: the six APIs;
- `keystone`, `nova`, `cinder`, `neutron`, `glance`, `heat`: the APIs.
"""
