// What a failed write says, the same from every layer: a full disk (or quota) reads "no space left on the device",
// anything else in the system's own words.
import Foundation

public enum WriteFailure {
    /// The reason for a failed system call's `errno`.
    public static func reason(errno code: Int32) -> String {
        code == ENOSPC || code == EDQUOT ? "no space left on the device" : String(cString: strerror(code))
    }

    /// The reason for a Foundation error (FileManager, Data.write), found through its POSIX cause when it has one.
    public static func reason(_ error: Error) -> String {
        var current: NSError? = error as NSError
        while let e = current {
            if e.domain == NSPOSIXErrorDomain { return reason(errno: Int32(e.code)) }
            current = e.userInfo[NSUnderlyingErrorKey] as? NSError
        }
        if let cocoa = error as? CocoaError, cocoa.code == .fileWriteOutOfSpace { return reason(errno: ENOSPC) }
        return error.localizedDescription
    }
}
