// Package sysfs is a read-only view of the Linux aoe driver's state: its
// disks in sysfs (/sys/block/etherd!eX.Y: state, MAC, interfaces,
// firmware, payload, size, device numbers, partitions, holders), the module
// (/sys/module/aoe: present, version, aoe_iflist) and its nodes in
// /dev/etherd (names, numbers, stale block nodes).
//
// It is a public library, kept stable: programs other than the aoe command
// may read the driver through it. Stable are the names this package
// exports: FS and NewFS with their readers (DeviceNames, Devices, Device,
// Exists, ModuleLoaded, ModuleVersion, InterfaceList, NetInterfaceExists),
// Device and Partition with their accessors (their fields hold a file's
// content as read, nil when it is missing), Host and its roots, the pure
// parsers and formatters (ParseInterfaceList, FormatMAC, SortDevices,
// SortNames), the constants of the driver's files and nodes, and the
// errors (errors.go). New readers may be added; none is removed or changes
// meaning. The address type is aoeaddr.Address (initiator/aoeaddr), the
// only package of the project sysfs imports.
//
// It changes nothing: writing the driver's control nodes and setting its
// interface list is internal/aoectl's, and telling whether a device is in
// use (the mount table, the processes that hold it open) internal/inuse's.
//
// Every path is taken under a root passed in by the caller (FS's root,
// Host's Sys, Dev and Proc), as prometheus/procfs does, so that tests and
// tools can point it at a fixture tree instead of /sys. Reading is kept
// apart from parsing: the parse functions are pure and take the bytes of a
// file.
package sysfs
