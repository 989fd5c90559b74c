/* Test-only stand-in for Windows' bcryptprimitives.dll, which Debian's wine 8 lacks and Rust's
 * std (1.78+) imports for ProcessPrng. It forwards to RtlGenRandom (advapi32's
 * SystemFunction036), which wine has. tests/deploy.rs builds it with mingw-w64 beside its own
 * temporary copy of the .exe; it is never packaged. A real Windows has the real DLL. */
#include <windows.h>

BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG part = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, part))
            return FALSE;
        data += part;
        length -= part;
    }
    return TRUE;
}
