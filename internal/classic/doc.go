// Package classic renders the output of aoetools' C tools and scripts
// (aoeping, aoecfg, aoe-sancheck, aoe-stat) byte for byte, as pure
// functions over the types of the initiator, discover and sysfs packages.
// The cmd package runs the commands; this package only writes what
// aoetools 36 would have written.
package classic
