// Host (Linux) errno -> guest (Emscripten) errno: the one translation table.
#include "vfs/wasm_errno.h"

#include <cerrno>

namespace pgthaw::vfs {

int to_wasm_errno(int e) {
  namespace w = wasm_errno;
  switch (e) {
    case 0: return 0;
    case EPERM: return w::kEPERM;
    case ENOENT: return w::kENOENT;
    case ESRCH: return w::kESRCH;
    case EINTR: return w::kEINTR;
    case EIO: return w::kEIO;
    case ENXIO: return w::kENXIO;
    case E2BIG: return w::kE2BIG;
    case ENOEXEC: return w::kENOEXEC;
    case EBADF: return w::kEBADF;
    case ECHILD: return w::kECHILD;
    case EAGAIN: return w::kEAGAIN;  // == EWOULDBLOCK on Linux
    case ENOMEM: return w::kENOMEM;
    case EACCES: return w::kEACCES;
    case EFAULT: return w::kEFAULT;
    case ENOTBLK: return w::kENOTBLK;
    case EBUSY: return w::kEBUSY;
    case EEXIST: return w::kEEXIST;
    case EXDEV: return w::kEXDEV;
    case ENODEV: return w::kENODEV;
    case ENOTDIR: return w::kENOTDIR;
    case EISDIR: return w::kEISDIR;
    case EINVAL: return w::kEINVAL;
    case ENFILE: return w::kENFILE;
    case EMFILE: return w::kEMFILE;
    case ENOTTY: return w::kENOTTY;
    case ETXTBSY: return w::kETXTBSY;
    case EFBIG: return w::kEFBIG;
    case ENOSPC: return w::kENOSPC;
    case ESPIPE: return w::kESPIPE;
    case EROFS: return w::kEROFS;
    case EMLINK: return w::kEMLINK;
    case EPIPE: return w::kEPIPE;
    case EDOM: return w::kEDOM;
    case ERANGE: return w::kERANGE;
    case EDEADLK: return w::kEDEADLK;  // == EDEADLOCK on Linux
    case ENAMETOOLONG: return w::kENAMETOOLONG;
    case ENOLCK: return w::kENOLCK;
    case ENOSYS: return w::kENOSYS;
    case ENOTEMPTY: return w::kENOTEMPTY;
    case ELOOP: return w::kELOOP;
    case ENOMSG: return w::kENOMSG;
    case EIDRM: return w::kEIDRM;
    case ECHRNG: return w::kECHRNG;
    case EL2NSYNC: return w::kEL2NSYNC;
    case EL3HLT: return w::kEL3HLT;
    case EL3RST: return w::kEL3RST;
    case ELNRNG: return w::kELNRNG;
    case EUNATCH: return w::kEUNATCH;
    case ENOCSI: return w::kENOCSI;
    case EL2HLT: return w::kEL2HLT;
    case EBADE: return w::kEBADE;
    case EBADR: return w::kEBADR;
    case EXFULL: return w::kEXFULL;
    case ENOANO: return w::kENOANO;
    case EBADRQC: return w::kEBADRQC;
    case EBADSLT: return w::kEBADSLT;
    case EBFONT: return w::kEBFONT;
    case ENOSTR: return w::kENOSTR;
    case ENODATA: return w::kENODATA;
    case ETIME: return w::kETIME;
    case ENOSR: return w::kENOSR;
    case ENONET: return w::kENONET;
    case ENOPKG: return w::kENOPKG;
    case EREMOTE: return w::kEREMOTE;
    case ENOLINK: return w::kENOLINK;
    case EADV: return w::kEADV;
    case ESRMNT: return w::kESRMNT;
    case ECOMM: return w::kECOMM;
    case EPROTO: return w::kEPROTO;
    case EMULTIHOP: return w::kEMULTIHOP;
    case EDOTDOT: return w::kEDOTDOT;
    case EBADMSG: return w::kEBADMSG;
    case EOVERFLOW: return w::kEOVERFLOW;
    case ENOTUNIQ: return w::kENOTUNIQ;
    case EBADFD: return w::kEBADFD;
    case EREMCHG: return w::kEREMCHG;
    case ELIBACC: return w::kELIBACC;
    case ELIBBAD: return w::kELIBBAD;
    case ELIBSCN: return w::kELIBSCN;
    case ELIBMAX: return w::kELIBMAX;
    case ELIBEXEC: return w::kELIBEXEC;
    case EILSEQ: return w::kEILSEQ;
    case ERESTART: return w::kERESTART;
    case ESTRPIPE: return w::kESTRPIPE;
    case EUSERS: return w::kEUSERS;
    case ENOTSOCK: return w::kENOTSOCK;
    case EDESTADDRREQ: return w::kEDESTADDRREQ;
    case EMSGSIZE: return w::kEMSGSIZE;
    case EPROTOTYPE: return w::kEPROTOTYPE;
    case ENOPROTOOPT: return w::kENOPROTOOPT;
    case EPROTONOSUPPORT: return w::kEPROTONOSUPPORT;
    case ESOCKTNOSUPPORT: return w::kESOCKTNOSUPPORT;
    case EOPNOTSUPP: return w::kEOPNOTSUPP;  // == ENOTSUP on Linux
    case EPFNOSUPPORT: return w::kEPFNOSUPPORT;
    case EAFNOSUPPORT: return w::kEAFNOSUPPORT;
    case EADDRINUSE: return w::kEADDRINUSE;
    case EADDRNOTAVAIL: return w::kEADDRNOTAVAIL;
    case ENETDOWN: return w::kENETDOWN;
    case ENETUNREACH: return w::kENETUNREACH;
    case ENETRESET: return w::kENETRESET;
    case ECONNABORTED: return w::kECONNABORTED;
    case ECONNRESET: return w::kECONNRESET;
    case ENOBUFS: return w::kENOBUFS;
    case EISCONN: return w::kEISCONN;
    case ENOTCONN: return w::kENOTCONN;
    case ESHUTDOWN: return w::kESHUTDOWN;
    case ETOOMANYREFS: return w::kETOOMANYREFS;
    case ETIMEDOUT: return w::kETIMEDOUT;
    case ECONNREFUSED: return w::kECONNREFUSED;
    case EHOSTDOWN: return w::kEHOSTDOWN;
    case EHOSTUNREACH: return w::kEHOSTUNREACH;
    case EALREADY: return w::kEALREADY;
    case EINPROGRESS: return w::kEINPROGRESS;
    case ESTALE: return w::kESTALE;
    case EUCLEAN: return w::kEUCLEAN;
    case ENOTNAM: return w::kENOTNAM;
    case ENAVAIL: return w::kENAVAIL;
    case EISNAM: return w::kEISNAM;
    case EREMOTEIO: return w::kEREMOTEIO;
    case EDQUOT: return w::kEDQUOT;
    case ENOMEDIUM: return w::kENOMEDIUM;
    case EMEDIUMTYPE: return w::kEMEDIUMTYPE;
    case ECANCELED: return w::kECANCELED;
    case ENOKEY: return w::kENOKEY;
    case EKEYEXPIRED: return w::kEKEYEXPIRED;
    case EKEYREVOKED: return w::kEKEYREVOKED;
    case EKEYREJECTED: return w::kEKEYREJECTED;
    case EOWNERDEAD: return w::kEOWNERDEAD;
    case ENOTRECOVERABLE: return w::kENOTRECOVERABLE;
    case ERFKILL: return w::kERFKILL;
    case EHWPOISON: return w::kEHWPOISON;
    default: return w::kEIO;
  }
}

int neg_wasm_errno_from_host() { return -to_wasm_errno(errno); }

}  // namespace pgthaw::vfs
