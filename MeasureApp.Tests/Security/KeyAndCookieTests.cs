using System.Net;
using System.Security.Claims;
using System.Xml.Linq;
using MeasureApp.Data;
using MeasureApp.Export;
using MeasureApp.Security;
using MeasureApp.Storage;
using MeasureApp.Tests.Export;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Security;

/// <summary>Issue 13 item 2 (and item 7): the key ring is encrypted at rest, files are private, and a
/// cookie whose user or security stamp is gone stops working at once.</summary>
public abstract class KeyAndCookieTests(DatabaseProvider provider) : IDisposable
{
    private const string CookieName = "MeasureApp.Auth";
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task ACookieMintedFromACopiedKeyRingIsRefusedWhileOneFromTheRealKeysWorks()
    {
        // The first login creates the key ring.
        using (await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword))
        {
        }
        List<XElement> copied;
        await using (var db = _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>().CreateDbContext())
        {
            copied = [.. (await db.DataProtectionKeys.Select(k => k.Xml).ToListAsync()).Select(x => XElement.Parse(x!))];
        }
        Assert.NotEmpty(copied);
        Assert.All(copied, k => Assert.DoesNotContain("<masterKey", k.ToString(), StringComparison.Ordinal));

        var admin = await AdminPrincipalAsync();
        var services = new ServiceCollection();
        services.AddDataProtection().SetApplicationName("MeasureApp");
        services.Configure<KeyManagementOptions>(o => o.XmlRepository = new CopiedRepository(copied));
        await using var attacker = services.BuildServiceProvider();
        string? forged;
        try
        {
            forged = Mint(attacker.GetRequiredService<IDataProtectionProvider>(), admin);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            forged = null;
        }
        if (forged is not null)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithCookieAsync(forged));
        }
        // The same minting with the app's own (decryptable) keys does work: the refusal is the encryption's doing.
        Assert.Equal(HttpStatusCode.OK, await StatusWithCookieAsync(Mint(_factory.Services.GetRequiredService<IDataProtectionProvider>(), admin)));
    }

    [Fact]
    public async Task AMintedCookieForAUserThatDoesNotExistIsRefusedAtOnce()
    {
        var ghost = TestPrincipal.Create(Guid.NewGuid().ToString(), "ghost@test.local", isAdmin: true);
        ((ClaimsIdentity)ghost.Identity!).AddClaim(new Claim("AspNet.Identity.SecurityStamp", "ANYSTAMP"));
        var cookie = Mint(_factory.Services.GetRequiredService<IDataProtectionProvider>(), ghost);

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithCookieAsync(cookie));
    }

    [Fact]
    public async Task LogoutEndsACopiedCookieOfTheSameLogin()
    {
        var user = await Users.CreateOperatorAsync(_factory.Services);
        var browser = await CookieSession.LoginAsync(_factory, user.Email!, Users.Password);
        var copied = browser.Cookies[CookieName];
        Assert.Equal(HttpStatusCode.OK, await StatusWithCookieAsync(copied));

        var token = await browser.FormTokenAsync("/live");
        using var logout = await browser.PostFormAsync("/Account/Logout", new() { ["__RequestVerificationToken"] = token });

        Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithCookieAsync(copied));
    }

    [Fact]
    public async Task LogoutWithoutTheFormTokenAndTheSessionEndedPageLogNobodyOut()
    {
        var user = await Users.CreateOperatorAsync(_factory.Services);
        var browser = await CookieSession.LoginAsync(_factory, user.Email!, Users.Password);
        var copied = browser.Cookies[CookieName];

        using var forged = await browser.PostFormAsync("/Account/Logout", []);
        using var ended = await browser.GetAsync("/Account/SessionEnded");

        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ended.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await StatusWithCookieAsync(copied));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task DataFolderDatabaseKeyFileAndPreparedExportsAreOwnerOnly()
    {
        const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode File600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var settings = _factory.Services.GetRequiredService<DatabaseSettings>();
        var key = _factory.Services.GetRequiredService<KeyRingSecret>();
        var exports = _factory.Services.GetRequiredService<PreparedExports>();
        var owner = await Users.CreateOperatorAsync(_factory.Services);
        var signal = new KnownSignal(Guid.CreateVersion7(), 1, [1000, 1000], (c, i) => i);
        await ExportFixture.StoreAsync(_factory.Services, signal.MeasurementId, owner, "modes", 1, 1000, signal.Chunks);
        var started = await exports.StartAsync(new MeasureApp.Acquisition.Measurements.Requester(owner.Id, owner.Email!, IsAdmin: false), signal.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv"), CancellationToken.None);
        await started.Export!.Completion;

        Assert.Equal(Folder, File.GetUnixFileMode(settings.DataDirectory));
        Assert.Equal(File600, File.GetUnixFileMode(key.Path));
        Assert.Equal(Folder, File.GetUnixFileMode(Path.GetDirectoryName(key.Path)!));
        Assert.False(key.Path.StartsWith(settings.DataDirectory, StringComparison.Ordinal));
        Assert.Equal(Folder, File.GetUnixFileMode(exports.Folder));
        Assert.Equal(PreparedExportState.Ready, started.Export.State);
        Assert.Equal(File600, File.GetUnixFileMode(started.Export.FilePath));
        if (provider == DatabaseProvider.Sqlite)
        {
            var db = Path.Combine(settings.DataDirectory, "measureapp.db");
            Assert.Equal(File600, File.GetUnixFileMode(db));
            Assert.Equal(File600, File.GetUnixFileMode(db + "-wal"));
        }
    }

    private async Task<ClaimsPrincipal> AdminPrincipalAsync()
    {
        await using var scope = _factory.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var signIn = scope.ServiceProvider.GetRequiredService<SignInManager<AppUser>>();
        return await signIn.CreateUserPrincipalAsync((await users.FindByEmailAsync(AppFactory.AdminEmail))!);
    }

    // The cookie handler's ticket format for Identity's application scheme.
    private static string Mint(IDataProtectionProvider keys, ClaimsPrincipal principal)
    {
        var protector = keys.CreateProtector("Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationMiddleware", IdentityConstants.ApplicationScheme, "v2");
        var properties = new AuthenticationProperties { IssuedUtc = DateTimeOffset.UtcNow, ExpiresUtc = DateTimeOffset.UtcNow.AddHours(1) };
        return new TicketDataFormat(protector).Protect(new AuthenticationTicket(principal, properties, IdentityConstants.ApplicationScheme));
    }

    private async Task<HttpStatusCode> StatusWithCookieAsync(string cookie)
    {
        using var client = _factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/measurements");
        request.Headers.Add("Cookie", $"{CookieName}={cookie}");
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class CopiedRepository(List<XElement> elements) : IXmlRepository
    {
        public IReadOnlyCollection<XElement> GetAllElements() => [.. elements];

        public void StoreElement(XElement element, string friendlyName) => elements.Add(element);
    }
}

public sealed class SqliteKeyAndCookieTests() : KeyAndCookieTests(DatabaseProvider.Sqlite);

public sealed class PostgresKeyAndCookieTests() : KeyAndCookieTests(DatabaseProvider.Postgres);
