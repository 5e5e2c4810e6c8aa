using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MeasureApp.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class PresenceSnapshots : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "presence_snapshots",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    At = table.Column<DateTimeOffset>(type: "TEXT", nullable: false),
                    ActiveUsers = table.Column<int>(type: "INTEGER", nullable: false),
                    OpenTabs = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_presence_snapshots", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_presence_snapshots_At",
                table: "presence_snapshots",
                column: "At");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "presence_snapshots");
        }
    }
}
