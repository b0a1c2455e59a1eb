//go:build windows

package fileperm

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// allowed returns the SIDs the state directory's ACL may name: SYSTEM,
// the Administrators group and the account this process runs as.
func allowed() ([]*windows.SID, error) {
	system, err := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	if err != nil {
		return nil, err
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return nil, err
	}
	sids := []*windows.SID{system, admins}
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, err
	}
	if !user.User.Sid.Equals(system) {
		sids = append(sids, user.User.Sid)
	}
	return sids, nil
}

// Restrict gives dir a protected DACL (no inherited entries) granting
// full control to SYSTEM, the Administrators group and the account this
// process runs as (LocalSystem for the service), inherited by everything
// inside.
func Restrict(dir string) error {
	sids, err := allowed()
	if err != nil {
		return fmt.Errorf("fileperm: %w", err)
	}
	entries := make([]windows.EXPLICIT_ACCESS, 0, len(sids))
	for _, sid := range sids {
		entries = append(entries, windows.EXPLICIT_ACCESS{
			AccessPermissions: windows.GENERIC_ALL,
			AccessMode:        windows.GRANT_ACCESS,
			Inheritance:       windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT,
			Trustee: windows.TRUSTEE{
				TrusteeForm:  windows.TRUSTEE_IS_SID,
				TrusteeType:  windows.TRUSTEE_IS_UNKNOWN,
				TrusteeValue: windows.TrusteeValueFromSID(sid),
			},
		})
	}
	acl, err := windows.ACLFromEntries(entries, nil)
	if err != nil {
		return fmt.Errorf("fileperm: build ACL: %w", err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil)
	if err != nil {
		return fmt.Errorf("fileperm: set ACL of %s: %w", dir, err)
	}
	return nil
}

// CheckPrivate returns a *PermError when the DACL of path lets in anyone
// but SYSTEM, the Administrators group and this process's account. A
// missing path is not an error.
func CheckPrivate(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("fileperm: read ACL of %s: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("fileperm: read ACL of %s: %w", path, err)
	}
	fix := "restart nfcd as a service (it sets the ACL), or: icacls \"" + path + "\" /inheritance:r /grant:r SYSTEM:(OI)(CI)F Administrators:(OI)(CI)F"
	if dacl == nil {
		return &PermError{Path: path, Who: "everyone (no ACL)", Fix: fix}
	}
	ok, err := allowed()
	if err != nil {
		return fmt.Errorf("fileperm: %w", err)
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("fileperm: read ACL of %s: %w", path, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		known := false
		for _, s := range ok {
			if sid.Equals(s) {
				known = true
			}
		}
		if !known {
			return &PermError{Path: path, Who: sid.String(), Fix: fix}
		}
	}
	return nil
}

// ReadableByOthers is not judged on Windows, where an ACL, not mode bits,
// decides; it reports false.
func ReadableByOthers(string) (readable, writable bool, err error) {
	return false, false, nil
}
