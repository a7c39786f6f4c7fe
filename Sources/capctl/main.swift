// capctl: the admin CLI. Wiring only: every behaviour lives in CapctlKit.
import CapctlKit
import Foundation

let code = await Capctl.run(arguments: Array(CommandLine.arguments.dropFirst()), console: .standard())
exit(code)
