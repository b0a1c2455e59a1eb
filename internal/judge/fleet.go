package judge

// Fleet is the fleet slot of the stage (issue 17; internal/fleetstage
// implements it). The fleet's counter check itself is part of the ledger
// step — it needs the kiosk's own mark before the write, and the fleet's
// audit rows go into the same commit — so fleetstage wraps the Ledger. The
// slot only brings back what the fleet decides later: a counter accepted
// while the fleet was away and refused once it was back, as a
// verdict.updated (replayed, fleet_replay). The stage reads Updates
// between batches, like the remote slot's; nil costs nothing.
type Fleet interface {
	// Updates delivers the late verdicts; Update.First is never set.
	Updates() <-chan Update
}
