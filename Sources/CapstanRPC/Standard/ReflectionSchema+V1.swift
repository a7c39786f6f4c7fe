import CapstanAPI

/// `grpc.reflection.v1` messages ⇄ the neutral query and answer.
enum ReflectionSchemaV1: ReflectionSchema {
    static func query(of request: Grpc_Reflection_V1_ServerReflectionRequest) -> ReflectionQuery {
        switch request.messageRequest {
        case .fileByFilename(let name)?: .fileByFilename(name)
        case .fileContainingSymbol(let symbol)?: .fileContainingSymbol(symbol)
        case .fileContainingExtension(let ext)?: .fileContainingExtension(type: ext.containingType, number: ext.extensionNumber)
        case .allExtensionNumbersOfType(let type)?: .allExtensionNumbersOfType(type)
        case .listServices?: .listServices
        case nil: .unrecognized
        }
    }

    static func response(
        to request: Grpc_Reflection_V1_ServerReflectionRequest, answer: ReflectionAnswer
    ) -> Grpc_Reflection_V1_ServerReflectionResponse {
        var response = Grpc_Reflection_V1_ServerReflectionResponse()
        response.validHost = request.host
        response.originalRequest = request
        switch answer {
        case .files(let files):
            var body = Grpc_Reflection_V1_FileDescriptorResponse()
            body.fileDescriptorProto = files
            response.messageResponse = .fileDescriptorResponse(body)
        case .extensionNumbers(let type, let numbers):
            var body = Grpc_Reflection_V1_ExtensionNumberResponse()
            body.baseTypeName = type
            body.extensionNumber = numbers
            response.messageResponse = .allExtensionNumbersResponse(body)
        case .services(let names):
            var body = Grpc_Reflection_V1_ListServiceResponse()
            body.service = names.map { name in
                var service = Grpc_Reflection_V1_ServiceResponse()
                service.name = name
                return service
            }
            response.messageResponse = .listServicesResponse(body)
        case .error(let code, let message):
            var body = Grpc_Reflection_V1_ErrorResponse()
            body.errorCode = Int32(code.rawValue)
            body.errorMessage = message
            response.messageResponse = .errorResponse(body)
        }
        return response
    }
}
