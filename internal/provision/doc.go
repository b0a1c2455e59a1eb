// Package provision personalises NTAG 424 DNA tags for a SUN profile, and
// resets and inspects them: it turns a blank tag into one whose every tap
// verifies under the profile, without ever leaving a tag nobody can read
// (issue 18; the bricking reports of peers §4 item 14).
//
// A Target is a profile (with app_master_key) and a URL template such as
// https://brand.example/t?picc_data={picc_data}&cmac={cmac}, from which
// ntag424.PlanSDM computes the NDEF message and every SDM offset.
// Provision then runs, over any Card (a PC/SC reader through Reader, which
// connects exclusively so that no other program's APDU lands inside the
// secure session; the virtual tag; a transcript):
//
//  1. select the application and read the UID (GetVersion);
//  2. authenticate with key 0 (AuthenticateEV2First, or LRPFirst for an
//     LRP profile) and read the UID again inside the session (GetCardUID),
//     which proves it is the tag that holds the key; a refusal (91AE)
//     stops here with ErrWrongKey0 before anything changed;
//  3. for an LRP profile on an AES tag, SetConfiguration option 05h, only
//     with Options.EnableLRP: the switch is permanent;
//  4. WriteData of the NDEF message, in the file's communication mode;
//  5. ChangeFileSettings of the NDEF file: the planned SDM settings, read
//     free, write, read-write and change with key 0;
//  6. for every key the profile sets other than 0: authenticate with its
//     old value (proving it, since ChangeKey XORs the new key with the old
//     one), back to key 0, ChangeKey, authenticate with the new value;
//  7. ChangeKey of key 0, last, and a first authentication with the new
//     key 0 (and GetCardUID again);
//  8. select the application (which ends the session) and read the tag as
//     a tap does (ntag424.ReadTag): only a SUN that verifies under the
//     profile, with the tag's UID, makes Result.OK.
//
// Reset runs the same machinery backwards: factory file settings, an empty
// NDEF file, keys back to zero at version 00, key 0 last, then a read that
// shows no URL and the factory settings.
//
// # Journal
//
// Before each step that changes the tag, the step is recorded as pending
// in the Journal, and as done once the tag confirmed it, each time durably
// (BoltJournal commits with fsync). A run that stops, because the tag left
// the field or anything else failed, is finished by running the same
// command again: steps already done are checked on the tag and skipped,
// and a key whose change was pending (its answer lost) is found by
// authenticating with the old and then the new value. Key 0 is tried with
// the profile's value first when the journal, or the tag's own verifying
// SUN, says it may already hold it. A Card that is a Reconnector lets one
// run wait for the tag to come back; the UID is checked after every first
// authentication, so another tag put down in between gets ErrUIDChanged
// and nothing written.
//
// Key material: the journal holds none. Every key a run needs comes from
// the profile (fixed, or derived per tag with AN10922 from the UID when
// the profile diversifies) or from the caller (Options.Key0, the tag's
// current key 0, never stored); the journal holds the UID, the profile's
// name, step states, key versions and times. So the tag keys are written
// nowhere but the tag, and a stolen journal tells which tags were
// personalised for which profile, nothing more.
//
// With diversification every key the profile sets is derived per tag,
// key 0 included, except the SDMMetaReadKey: a verifier decrypts PICCData,
// and so learns the UID, with it, so it must be the same for all tags (as
// the Bolt Card scheme does with K1).
package provision
