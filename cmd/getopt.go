package cmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// getoptMessage says a flag error as getopt does ("invalid option -- 'x'",
// "option requires an argument -- 'x'"), by the type of pflag's error;
// unknown is the unknown short option, if that is the error.
func getoptMessage(err error) (msg, unknown string) {
	var ne *pflag.NotExistError
	var vr *pflag.ValueRequiredError
	switch {
	case errors.As(err, &ne) && ne.GetSpecifiedShortnames() != "":
		c := ne.GetSpecifiedName()
		return "invalid option -- '" + c + "'", c
	case errors.As(err, &vr) && vr.GetSpecifiedShortnames() != "":
		return "option requires an argument -- '" + vr.GetSpecifiedName() + "'", ""
	}
	return err.Error(), ""
}

// getoptError makes a classic C tool's flag errors read as getopt's, then
// prints its usage, with exit status 1.
func getoptError(prog, usage string) func(*cobra.Command, error) error {
	return func(cmd *cobra.Command, err error) error {
		msg, _ := getoptMessage(err)
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n%s", prog, msg, usage)
		return silentExit(ExitFailure)
	}
}
