// Package discover analyses an AoE SAN from userspace, over an
// initiator.Group (one client per interface): Probe broadcasts a Query
// Config, asks every responder for its ATA IDENTIFY data, and aggregates the
// answers by shelf.slot into targets with all their paths, flagging
// addresses that different disks claim; Ping measures one target's paths;
// Check measures the frame sizes every path carries and warns about MTUs
// and paths (what aoe-sancheck reports); Mask and Reserve read and change
// the access lists of every path of a target.
//
// This package is part of the public library kept stable with initiator
// (see its package documentation): its exported names, its errors
// (errors.go) and Options keep their meaning.
package discover
