//! The D-Bus client against captured bytes (`fixtures`), against damaged
//! bytes (`mutation`), and against a real bus where there is one
//! (`real_bus`, run for real in the systemd VM).

mod examples;
mod fixtures;
mod mutation;
mod real_bus;
